"""The create studio's Dramatiq worker (queue `create`): its image holds this package's dependencies.

Written by `imagestudio deploy render` from the studio registry: edit the studio, not this file.
"""
