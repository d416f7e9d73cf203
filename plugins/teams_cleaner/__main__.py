from qualia.plugin_sdk import serve

from . import TeamsCleaner

serve(TeamsCleaner)
