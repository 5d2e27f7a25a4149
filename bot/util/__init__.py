"""Small helpers every stage uses: words and stems, control characters, secrets out, date flags."""
