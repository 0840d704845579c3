"""Start-script helpers; a package so that `celery -A scripts.worker_app` finds these first."""
