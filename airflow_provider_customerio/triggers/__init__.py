"""Deferrable waits of the provider (run in Airflow's triggerer)."""
