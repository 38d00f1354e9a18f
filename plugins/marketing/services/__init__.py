"""The marketing plugin's services: consent, audiences, templates, campaigns, tracking, results."""
