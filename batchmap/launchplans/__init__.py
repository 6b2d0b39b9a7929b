"""launchplans."""
