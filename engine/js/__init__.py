"""The JavaScript back end: the policy's decision logic as a small module for the browser."""

from clearline.engine.js.compile import JsModule, compile_js, js_value

__all__ = ["JsModule", "compile_js", "js_value"]
