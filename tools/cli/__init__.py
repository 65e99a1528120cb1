"""The operator CLI's commands (``tools/riskctl.py`` is the entry point); they work on AWS and on moto."""
