from django.db import models


class Visit(models.Model):
    """How many times a path was served (the home page counts its visits)."""

    path = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return '%s: %d' % (self.path, self.count)
