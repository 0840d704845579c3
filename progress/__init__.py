"""Live task progress: `progress.set()` in a Celery task → Redis → Channels → the page."""
