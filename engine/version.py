"""The engine version and record schema recorded in every decision."""

ENGINE_VERSION = "0.1.0"
DECISION_SCHEMA = "clearline.decision/v1"
