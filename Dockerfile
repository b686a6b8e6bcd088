# The counsel dispatcher. Embedded default (SQLite in /data) unless DISPATCHER_DATABASE_URL says
# otherwise. Build: docker build -t counsel-dispatcher .   Run: docker run -p 8000:8000 ...
# Production (PostgreSQL, Redis, API workers and a worker process): see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DISPATCHER_DATABASE_URL=sqlite:////data/dispatcher.db \
    DISPATCHER_LOG_FORMAT=json \
    DISPATCHER_DEMO_REGISTRY=/app/data/registry.json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
COPY api ./api
COPY policies ./policies
COPY data ./data
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app dispatcher \
    && mkdir -p /data && chown dispatcher /data

USER dispatcher
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"

ENTRYPOINT ["dispatcher"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
