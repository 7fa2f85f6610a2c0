"""Raw TCP servers whose connection events go to PHP workers (spec/tcp.md)."""
