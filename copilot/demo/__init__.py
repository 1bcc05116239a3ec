"""The demo organisation: a deterministic CRM dataset (``generator``), its large synthetic variant for
benchmarks (``scale``), and the one-call installer behind ``crm-copilot demo init`` (``install``)."""
