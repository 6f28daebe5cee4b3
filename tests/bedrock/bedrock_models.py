"""The model ids and region the Bedrock plugin's tests use (imported by name: conftest modules
of several test folders would clash)."""

REGION = "us-east-1"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
COHERE_EMBED = "cohere.embed-english-v3"
NOVA_CANVAS = "amazon.nova-canvas-v1:0"
TITAN_IMAGE = "amazon.titan-image-generator-v2:0"
