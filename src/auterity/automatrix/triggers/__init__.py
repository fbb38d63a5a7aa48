"""Triggers: what starts a workflow's runs without a person (cron, webhook, platform event).

Every trigger starts runs through `automatrix.service.start_run`, and each firing is a row
(`TriggerFiring`): its history, and for cron the claim that makes a scheduled time fire once.
"""
