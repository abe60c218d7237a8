"""bessgym: a battery in day-ahead, ancillary-service and real-time markets."""
