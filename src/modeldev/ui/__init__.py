"""The Streamlit front end's helpers: state keys, widgets, the job panel (docs/architecture.md)."""
