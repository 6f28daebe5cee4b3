"""Wire formats that more than one provider plugin speaks, as pure functions (no I/O).

* :mod:`genai_commons.formats.converse` — the Amazon Bedrock Converse request and response
  (Bedrock itself, through boto3; Mendix Cloud GenAI, as JSON over HTTP), and the documented
  limits on attached images and documents.
* :mod:`genai_commons.formats.converse_stream` — the events of ConverseStream as the core's
  stream events.
* :mod:`genai_commons.formats.sse` — server-sent events read from bytes, invalid UTF-8 an error
  (OpenAI and Mendix Cloud GenAI streams).

Plugins import the module they need; nothing here is imported with :mod:`genai_commons`.
"""
