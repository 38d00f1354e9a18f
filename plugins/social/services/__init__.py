"""The social plugin's services: referral codes and referrals, the referral tree, social value, rewards."""
