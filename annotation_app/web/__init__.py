"""Static files of the annotator web page (plain HTML/JS, no build step, no CDN)."""
