"""Job handler registration happens here (imported by the AppConfig)."""
