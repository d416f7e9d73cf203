from qualia.plugin_sdk import serve

from . import SpeakerStats

serve(SpeakerStats)
