"""batchmap: run map tasks (array jobs) on AWS Batch without a Flyte backend.

The package is a library first: every command of the CLI is a thin layer over
functions here that take their inputs (config, boto3 clients) as parameters.
"""

__version__ = "0.1.0.dev0"
