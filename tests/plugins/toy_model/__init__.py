"""A third-party model for the plug-in test: Marchenko–Pastur curves through the public pencils API."""
