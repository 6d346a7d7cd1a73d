"""`/albumify-status`: how busy the cover makers are, and a periodic log line."""
