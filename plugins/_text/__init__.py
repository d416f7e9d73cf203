"""Helpers shared by the bundled plugins (not part of the plugin contract; outside plugins use plugin_sdk)."""
