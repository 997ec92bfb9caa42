"""What the SLA is judged by: compliance against the schedule, retention and its audit, the RTO verdict and the
restore-duration forecast, the status summary, the monthly report and the Prometheus metrics."""
