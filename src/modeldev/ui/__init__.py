"""The Streamlit front end's helpers: state keys, widgets, the job panel (DESIGN.md, `ui/`)."""
