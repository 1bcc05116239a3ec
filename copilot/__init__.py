"""CRM Copilot: an AI assistant inside a CRM that never shows a user what the CRM would not."""

__version__ = "0.1.0"
