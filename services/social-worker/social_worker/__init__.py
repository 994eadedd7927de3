"""The social studio's Dramatiq worker (queue `social`): its image holds this package's dependencies.

Written by `imagestudio deploy render` from the studio registry: edit the studio, not this file.
"""
