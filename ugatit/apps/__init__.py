"""Applications on top of inference: video, camera, the web server and the upscale phase."""
