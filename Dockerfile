# The subscriber service (`newsletter server`) in a container.
#   docker build -t newsletter .
#   docker run -p 8025:8025 -v newsletter-data:/data \
#     -e NEWSLETTER_SECRET -e NEWSLETTER_LIST_TOKEN newsletter \
#     server --host 0.0.0.0 --db /data/subscribers.sqlite3 --smtp mail.example.org:25 --base-url https://list.example.org
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newsletter ./newsletter
RUN pip install . && useradd --system --uid 10001 --home-dir /data newsletter \
    && mkdir -p /data && chown newsletter /data

USER newsletter
WORKDIR /data
VOLUME /data
EXPOSE 8025
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8025/healthz', timeout=4)"
ENTRYPOINT ["newsletter"]
CMD ["server", "--host", "0.0.0.0", "--db", "/data/subscribers.sqlite3"]
