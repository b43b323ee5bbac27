"""The "Customer.io ↔ Brevo" status page in the Airflow UI: queries on the shared store (:mod:`.queries`), the
HTML (:mod:`.page`), the FastAPI app with Airflow authentication (:mod:`.app`) and the plugin (:mod:`.plugin`)."""
