"""Knowledge bases above the hooks: loading and chunking documents, ingestion that resumes,
batched embedding, and retrieve-and-generate."""
