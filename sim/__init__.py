"""lognet.sim"""
