"""Living beside a host CRM: bulk import (CSV, XLSX, JSONL) and upsert by external id, for records, people
and permission rules, through one engine (``upsert.Upserter``) that the CLI, the HTTP API and the demo use."""
