"""The command tree. Commands parse, make one library call, and render."""
