"""Email over SMTP (aiosmtplib)."""
