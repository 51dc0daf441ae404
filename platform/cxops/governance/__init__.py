"""Governance: promotion gates, approvals, roles, the audit log, lineage, DPIA and GDPR erasure."""
