"""The admin: Function URL API and server-rendered web console (issue 7)."""
