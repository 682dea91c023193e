"""Exports of a trained run for other inference engines (`toolkit export`): ONNX (onnx.py) and
CTranslate2 (ctranslate2.py), each written to an export folder (folder.py)."""

from __future__ import annotations

from toolkit.export.folder import ExportInfo, default_folder, read_export, write_export_folder

__all__ = ["ExportInfo", "default_folder", "read_export", "write_export_folder"]
