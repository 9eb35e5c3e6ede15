"""OCR of scans (Tesseract, German) in the background, driven by ``ocr_requested`` events."""
