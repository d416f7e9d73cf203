"""Text helpers shared by the bundled analyzers (not a plugin: no plugin.toml, so discovery skips it).

`tokens`: word tokens with their offsets, a document's pieces (segments or the
whole text), sentences, the analysis language; `lemmas`: the simplemma wrapper
behind every `lemmas = true` option; `stopwords`: the stopwords-iso lists. Not
part of the SDK: outside plugin authors pick their own text tools.
"""
