"""The Airflow side of a sync run, shared by the operators and Airflow-aware only here: the run's ids and data
interval (:mod:`.context`), rendered template values (:mod:`.values`), settings and the shared store
(:mod:`.settings`), the lease and the import slots (:mod:`.lease`) and the run's summary (:mod:`.summary`)."""
