"""The policies that ship with Clearline, as package data (`clearline demo` reads them)."""
