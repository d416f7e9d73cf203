from plugin_sdk import serve

from . import TeamsCleaner

serve(TeamsCleaner)
