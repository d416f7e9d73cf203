from qualia.plugin_sdk import serve

from . import SpeakerStatsChart

serve(SpeakerStatsChart)
