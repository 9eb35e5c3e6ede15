"""Case files (Akten), their processes (Vorgänge), readers and file numbers."""
