"""Inference: the Translator and the phases that translate, upscale, report and export."""
