"""Helpers shared by the bundled plugins (not part of the plugin contract; outside plugins use plugin_sdk).

No plugin.toml, so discovery skips this folder. `language`: lingua-based
language identification per document and segment; `tokens`: word tokens with
their offsets, a document's pieces (segments or the whole text), sentences, the
analysis language; `lemmas`: the simplemma wrapper behind every `lemmas = true`
option; `stopwords`: the stopwords-iso lists.
"""
