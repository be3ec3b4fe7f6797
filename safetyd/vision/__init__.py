"""Seeing the workers: where to look (regions), how big people are (sizes), running
the pose model on those regions, and telling people from phantoms."""
